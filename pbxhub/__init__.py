"""pbxhub's composition root: settings, the CLI, the worker and the embedded dev runner."""
