"Everything a user of videocls needs, fastai-style: `from videocls.all import *`"
from .data.rar import *
from .data.ucf101 import *
from .data.video import *
from .data.build import *
from .data.frames import *
from .data.store import *
from .data.core import *
from .data.synthetic import *
from .layers import *
from .models import *
from .evaluate import *
from .train import *
from .inference import *
from .frame_prediction import *
