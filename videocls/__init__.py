"Video (action) classification with fastai"
from importlib.metadata import version as _version, PackageNotFoundError
try: __version__ = _version('videocls')  # single source: settings.ini, read by setup.py
except PackageNotFoundError: __version__ = 'unknown'
