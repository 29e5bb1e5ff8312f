"""Bringing an existing volume over: `launchpad migrate`.

The old trees other templates left on a network volume are found (``layouts``), turned into a
plan of what goes where (``plan``), and carried out without copying a byte of a model: adopted
(the old directories added to ComfyUI's model paths, ``adopted``) or moved by renames on the
same file system, every rename recorded first in a journal so that an interrupted move resumes
and any move can be undone (``journal``, ``moves``). ``actions`` runs the whole of it for the
CLI; ``guard`` decides whether the volume is quiet enough to move files on it.

This package imports nothing at its top, so that ``model_paths`` and ``model_roots`` can read
the adopted directories without pulling in the rest.
"""
