"""The process around the library: hiding library warnings from users (``library_warnings``) and what
this installation can run (``doctor``), and the threads the engine runs its stages on (``stage_threads``)."""
