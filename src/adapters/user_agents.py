"""User-Agent classification with crawlerdetect (bots) and ua-parser (browser, OS, device)."""

from __future__ import annotations

from functools import lru_cache

from crawlerdetect import CrawlerDetect
from ua_parser import parse

from domain.visit import UserAgentInfo

TABLETS = ("ipad", "tablet", "kindle", "silk", "playbook")
MOBILES = ("mobi", "iphone", "ipod", "android", "windows phone", "blackberry", "opera mini")


class LibraryUserAgentClassifier:
    def __init__(self, cache_size: int = 4096) -> None:
        self._crawlers = CrawlerDetect()
        self._classify = lru_cache(maxsize=cache_size)(self._uncached)

    def classify(self, user_agent: str) -> UserAgentInfo:
        return self._classify(user_agent[:512])

    def _uncached(self, user_agent: str) -> UserAgentInfo:
        if not user_agent.strip() or self._crawlers.isCrawler(user_agent):
            return UserAgentInfo(is_bot=True, browser="bot", os="bot", device="bot")
        result = parse(user_agent)
        browser = result.user_agent.family if result.user_agent else "Other"
        os_family = result.os.family if result.os else "Other"
        if result.device and result.device.family == "Spider":
            return UserAgentInfo(is_bot=True, browser="bot", os="bot", device="bot")
        return UserAgentInfo(
            is_bot=False, browser=browser[:64], os=os_family[:64], device=_device_class(user_agent)
        )


def _device_class(user_agent: str) -> str:
    lowered = user_agent.lower()
    if any(word in lowered for word in TABLETS) or (
        "android" in lowered and "mobile" not in lowered
    ):
        return "tablet"
    if any(word in lowered for word in MOBILES):
        return "mobile"
    if any(word in lowered for word in ("windows", "macintosh", "x11", "linux", "cros")):
        return "desktop"
    return "other"
