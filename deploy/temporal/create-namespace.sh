#!/bin/sh
# The namespace pbxhub runs in (PBXHUB_TEMPORAL_NAMESPACE), created once Temporal is healthy.
set -eu
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do sleep 3; done
temporal operator namespace describe -n "$DEFAULT_NAMESPACE" --address "$TEMPORAL_ADDRESS" ||
  temporal operator namespace create -n "$DEFAULT_NAMESPACE" --retention 30d \
    --address "$TEMPORAL_ADDRESS"
