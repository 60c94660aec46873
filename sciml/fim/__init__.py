"""FIM for Markov jump processes: zero-shot inference of rate matrices from observed paths.

Reference: Berghaus, Cvejoski, Seifner, Ojeda & Sánchez 2024, "Foundation Inference Models for Markov
Jump Processes", NeurIPS.
"""

from .attention import LearnableQueryAttention as LearnableQueryAttention
from .encoding import SineTimeEncoding as SineTimeEncoding
from .inference import MJPEstimate as MJPEstimate
from .inference import check_paths as check_paths
from .inference import infer_rate_matrix as infer_rate_matrix
from .inference import rate_rmse as rate_rmse
from .inference import split_chunks as split_chunks
from .loss import fim_loss as fim_loss
from .markov import entropy_production as entropy_production
from .markov import offdiagonal as offdiagonal
from .markov import rate_matrix_from_offdiagonal as rate_matrix_from_offdiagonal
from .markov import relaxation_time as relaxation_time
from .markov import stationary_distribution as stationary_distribution
from .mle import mle_rate_matrix as mle_rate_matrix
from .mle import transition_counts as transition_counts
from .model import FIMMJP as FIMMJP
from .model import FIMOutput as FIMOutput
from .transformer import EncoderLayer as EncoderLayer
from .transformer import TransformerEncoder as TransformerEncoder
