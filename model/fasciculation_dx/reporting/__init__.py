"""What the model shows on paper: figures, text output, generated reports and teaching helpers.

``plots`` draws tornado and interval figures, ``report_text`` formats a differential as text,
``report`` writes the model card and sensitivity and clinical-case reports, ``scenarios`` holds
the example patients and ``teaching`` the helpers the notebooks use. Modules here may import
everything below them (network, inference, analysis) and the :class:`fasciculation_dx.Model`
facade; never the command line or the web page.
"""
