"""Default configuration and rule packs, shipped as package data."""
