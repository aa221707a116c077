"""What researchers do with the model: sensitivity, uncertainty, calibration and evaluation.

One-way sensitivity functions, screening, thresholds and setting comparisons; Monte Carlo
credible intervals from the parameters' ranges; EM calibration of the priors to case data;
evaluation metrics and reliability plots; simulation of synthetic cases; case-file reading and
scoring of case files, locally or with dask. Modules here may import
:mod:`fasciculation_dx.network` and :mod:`fasciculation_dx.inference` (and the errors and atomic
writers); they take priors or an engine, not the :class:`fasciculation_dx.Model` facade, and
never import the command line, reporting or the web page.
"""
