"""The Dash app: one module per page or feature, component ids in `ids.py`."""
