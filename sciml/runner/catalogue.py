"""The built-in tasks: importing a method's (or a cross-method study's) task module registers its tasks.

A researcher's own package registers more through the `sciml.tasks` entry-point group or
`sciml run --import my_pkg.tasks`.
"""

from importlib import import_module

BUILTIN_TASK_MODULES = (
    "sciml.mfm.task",
    "sciml.gde.task",
    "sciml.pfgmpp.task",
    "sciml.fim.task",
    "sciml.probconserv.task",
    "sciml.giorom.task",
    "sciml.meshformer.task",
    # cross-method studies (sciml/studies): they import method packages, never the other way round
    "sciml.studies.conserved_rollout.task",
    "sciml.studies.population_embeddings.task",
    "sciml.studies.pfgm_generator.task",
)

for _module in BUILTIN_TASK_MODULES:
    import_module(_module)
