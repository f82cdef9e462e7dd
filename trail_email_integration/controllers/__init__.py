"""HTTP controllers (OAuth callbacks)."""
