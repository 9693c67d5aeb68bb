"""Pure functions over Arrow batches, and the thin Beam wrappers around them."""
