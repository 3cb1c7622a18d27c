"""Workflows: one durable `CallWorkflow` per PBX call session. Deterministic code only."""
