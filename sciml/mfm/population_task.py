"""Transitional: the population tasks now live in `sciml.mfm.task`. This module exists only because
`sciml.runner.catalogue` still imports it; delete it together with that catalogue line."""

import sciml.mfm.task  # noqa: F401  (registers fm_pop, cgfm and mfm)
