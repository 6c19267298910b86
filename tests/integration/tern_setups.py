"""Ready-made ternd configurations for the two-host pair."""
from __future__ import annotations

import keying
from netns import Pair


def tunnel(pair: Pair, suite=keying.AES_GCM_256, *, inner: int = 4, outer: int = 4, udp: bool = False,
           **kw) -> keying.Config:
    return keying.host_config("tunnel", suite, a_outer=pair.outer(pair.a, outer), b_outer=pair.outer(pair.b, outer),
                              a_sel=pair.net(pair.a, inner), b_sel=pair.net(pair.b, inner), udp=udp, **kw)


def transport(pair: Pair, suite=keying.AES_CBC_SHA256, *, family: int = 4, udp: bool = False, **kw) -> keying.Config:
    a, b = pair.outer(pair.a, family), pair.outer(pair.b, family)
    return keying.host_config("transport", suite, a_outer=a, b_outer=b, a_sel=a, b_sel=b, udp=udp, **kw)
