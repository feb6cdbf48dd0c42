"Every video model of videocls: `from videocls.models import ...` reaches the public names of each room (written by hand: nbdev exports the rooms)"
from .classifier import *
from .framewise import *
from .timesformer import *
from .tv import *
from .hf import *
from .factory import *
