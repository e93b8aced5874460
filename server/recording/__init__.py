"""Session recording: the conference kept without transcoding.

Media half (RTP to disk, and back to WebM):

* :mod:`.sink` - :class:`~.sink.RecorderSink`, one recorded slot: a consumer of the relay
  like a viewer's slot (re-pointed by the router, make before break, seq/ts rewritten so
  the slot is one continuous stream), with no RTCRtpSender. Its ``forward`` only appends
  ``(arrival time, RTP bytes)`` to an in-memory batch.
* :mod:`.writer` - the writer thread: batches handed over by the recorder 4x a second,
  written append-only and flushed (a SIGKILL loses at most the last second).
* :mod:`.trackfile` - the track file format and its reader
  (:class:`~.trackfile.RecordingFileError` names file and byte offset).
* :mod:`.recorder` - :class:`~.recorder.Recorder`: the sinks on hall.audio, hall.video,
  floor.audio, floor.video, presentation.video; key frames at start, after loss and every
  10 s; ``tracks()`` for the manifest.
* :mod:`.media_export` - ``export_media``: one WebM per stream (no re-encoding) and the
  clerks' audio mix.

Metadata half: :mod:`.service`, :mod:`.manifest` and the exports of chapters and minutes.
"""
