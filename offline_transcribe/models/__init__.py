"""Where models are described (``registry``), what their files are (``files``) and which are in memory (``store``)."""
