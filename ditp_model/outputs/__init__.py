"""Views on a decision: the journal and ``verify``, the report (HTML/PDF) and its sections,
workbook, feedback letters, figures, notebook helpers, report kernels."""
