"""Turning model files into models fast: a ``.nemo`` archive read in place, a SALM folder copied tensor by tensor."""
