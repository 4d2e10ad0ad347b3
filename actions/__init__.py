"""The rasa_sdk action server: thin actions that call knowledge/ and crm_store/ services.

rasa_sdk imports every submodule of this package to find Action classes, so no module here
may do work at import time; services are built by `python -m actions` (see runtime.py).
"""
