"""Radiograph mode: the hallux coverage comparison on dorsoplantar foot radiographs (2-D).

Stages, one module each: ``image`` (a 2-D image with its plane geometry),
``phantom_dx`` (projection phantom and 2-D truth), ``split`` (field of view and
feet), ``segment`` (outside / soft tissue / bone), ``hallux`` (the hallux
phalanges), ``register`` (mirror and 2-D registration on bone), ``margin`` (SPEC's
2-D metrics), ``pipeline`` (``compare_dx``) and ``figures``.
"""
