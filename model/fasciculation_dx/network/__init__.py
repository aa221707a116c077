"""What the model is: the priors' schema, loading and writing them, and the network they define.

``priors`` holds the immutable data model, ``loader`` reads and validates a priors directory,
``writer`` writes one, ``tables`` and ``etiology`` turn rows into conditional probability tables
and base rates, ``paths`` finds the shipped priors, ``pgmpy_adapter`` builds and checks the
pgmpy network (the only module that imports pgmpy) and ``interchange`` exports it to BIF, XMLBIF
and NET. Modules here may import each other, :mod:`fasciculation_dx.errors` and
:mod:`fasciculation_dx.atomic`; nothing in the other wings.
"""
