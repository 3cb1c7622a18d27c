"""Activities: everything a call workflow does that touches the world (the store, the PBX)."""
