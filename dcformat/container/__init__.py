"""Container stage: the file's byte layout (format.py), sections, tensor table, payload codecs, reader, writer.

Import the submodules directly (``dcformat.container.reader``...); this package
file stays empty so that ``format.py`` can be imported without the codecs.
"""
