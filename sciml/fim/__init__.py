"""FIM for Markov jump processes: zero-shot inference of rate matrices from observed paths.

Reference: Berghaus, Cvejoski, Seifner, Ojeda & Sánchez 2024, "Foundation Inference Models for Markov
Jump Processes", NeurIPS.
"""

from sciml.fim.attention import LearnableQueryAttention as LearnableQueryAttention
from sciml.fim.encoding import SineTimeEncoding as SineTimeEncoding
from sciml.fim.evaluation import dfr_evaluation as dfr_evaluation
from sciml.fim.evaluation import dfr_support as dfr_support
from sciml.fim.evaluation import linear_probe as linear_probe
from sciml.fim.evaluation import rmse_vs_paths as rmse_vs_paths
from sciml.fim.evaluation import summary_probe as summary_probe
from sciml.fim.evaluation import synthetic_rmse as synthetic_rmse
from sciml.fim.inference import MJPEstimate as MJPEstimate
from sciml.fim.inference import check_paths as check_paths
from sciml.fim.inference import infer_rate_matrix as infer_rate_matrix
from sciml.fim.inference import rate_rmse as rate_rmse
from sciml.fim.inference import split_chunks as split_chunks
from sciml.fim.loss import fim_loss as fim_loss
from sciml.fim.markov import entropy_production as entropy_production
from sciml.fim.markov import offdiagonal as offdiagonal
from sciml.fim.markov import rate_matrix_from_offdiagonal as rate_matrix_from_offdiagonal
from sciml.fim.markov import relaxation_time as relaxation_time
from sciml.fim.markov import stationary_distribution as stationary_distribution
from sciml.fim.mle import mle_rate_matrix as mle_rate_matrix
from sciml.fim.mle import transition_counts as transition_counts
from sciml.fim.model import FIMMJP as FIMMJP
from sciml.fim.model import FIMOutput as FIMOutput
from sciml.fim.statistics import count_feature_size as count_feature_size
from sciml.fim.statistics import count_statistics as count_statistics
from sciml.fim.statistics import transition_statistics as transition_statistics
from sciml.fim.transformer import EncoderLayer as EncoderLayer
from sciml.fim.transformer import TransformerEncoder as TransformerEncoder
