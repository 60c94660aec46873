"""Cross-method studies: compositions of method packages through their public APIs (nothing imports a study)."""
