"""Study: PFGM++'s perturbation kernel (augmented dimension D) as GDE's conditional generator.

The `study_gde_pfgm` task is registered by `sciml.studies.pfgm_generator.task`; the figures are in
`sciml.studies.pfgm_generator.figures` (not imported here, so the package needs no plotting backend).
"""

from sciml.studies.pfgm_generator.evaluation import nfe_key as nfe_key
from sciml.studies.pfgm_generator.evaluation import nfe_sweep as nfe_sweep
from sciml.studies.pfgm_generator.evaluation import summarise as summarise
from sciml.studies.pfgm_generator.generator import SIGMA_DATA as SIGMA_DATA
from sciml.studies.pfgm_generator.generator import ConditionedNet as ConditionedNet
from sciml.studies.pfgm_generator.generator import PFGMGenerator as PFGMGenerator
from sciml.studies.pfgm_generator.generator import pfgm_generator as pfgm_generator
