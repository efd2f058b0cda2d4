"""Micro-processes of the WAN (spec ch. 5): the parts both ends of a channel share.

Sans-I/O building blocks used by the reference GWA (``app/sim/gwa``) and the virtual SMGW's WAN
side (``app/sim/smgw/wan*.py``):

* :mod:`.content` - seal and open administration content (5.10/5.11: XML, signed and encrypted);
* :mod:`.channels` - paths, content type, statuses and timers of the three channels (5.2-5.7);
* :mod:`.backoff` - reconnect back-off with jitter;
* :mod:`.sntp` - the time synchronisation packets (5.13);
* :mod:`.http_range` - ``Range`` requests of the ADMIN-SERVICE channel (5.4).

The wire rules are in ``docs/protocol/05-02-channels.md`` and the implementation decisions in
``docs/protocol/channels-implementation.md``.
"""
