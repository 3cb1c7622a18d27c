"""The HTTP face of pbxhub: webhook ingress, the REST API and, later, call cards and pages."""
