"""What people see and call: the Gradio page (``page``)."""
