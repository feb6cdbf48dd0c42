"The data of videocls: importing any of its modules also imports the dataset modules that register naming rules (`videocls.data.ucf101`'s clip groups; see `videocls.data.core.register_group_rule`)"
from . import ucf101
