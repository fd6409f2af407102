"""Code generation: pure functions from a model to ``{relative_path: content}``.

Nothing here writes files; ``tinyml.writer.write_tree`` does. ``banner`` heads every generated
file; ``c_array`` embeds a .tflite as an aligned C array; ``aot`` turns an int8 graph into C.
"""
