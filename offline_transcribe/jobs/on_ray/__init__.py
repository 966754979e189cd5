"""The same job on a Ray cluster (``--ray [ADDRESS]``): Ray only decides where each batch runs.

``options`` holds the command line's Ray options and the install command; ``cluster`` connects (a local instance,
``auto`` or ``ray://host:port``), sizes the actor pool against the cluster's resources and checks every node
(output folder shared and writable, the model's files in place); ``transcriber`` is what runs on the workers
(decode tasks, the actor that loads the model once); ``runner`` is the ``JobRunner`` that builds the Ray Data
pipeline and streams the results back to the driver, which alone writes the ledger and the exports.

Ray is optional (``pip install '.[ray]'``): nothing here imports it at module level except ``cluster``,
``transcriber`` and ``runner``, which only a Ray job imports.
"""
