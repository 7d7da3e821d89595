"""Filter and transform steps of the CPT path, one module per filter family."""
