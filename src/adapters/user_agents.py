"""User-Agent classification with crawlerdetect (bots) and ua-parser (browser, OS, device)."""

from __future__ import annotations

from crawlerdetect import CrawlerDetect
from ua_parser import parse

from domain.visit import UserAgentInfo

TABLETS = ("ipad", "tablet", "kindle", "silk", "playbook")
MOBILES = ("mobi", "iphone", "ipod", "android", "windows phone", "blackberry", "opera mini")


class LibraryUserAgentClassifier:
    """Parsing a User-Agent takes ~100 µs; the same few hundred strings make most traffic,
    so results are kept in a plain dict (one C-level lookup per page view), emptied when it
    reaches ``cache_size`` entries so a flood of unique strings cannot grow it."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._crawlers = CrawlerDetect()
        self._cache: dict[str, UserAgentInfo] = {}
        self._cache_size = cache_size

    def classify(self, user_agent: str) -> UserAgentInfo:
        found = self._cache.get(user_agent)
        if found is None:
            if len(user_agent) > 512:  # bounded memory: long strings are judged by a prefix
                return self.classify(user_agent[:512])
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            found = self._cache[user_agent] = self._uncached(user_agent)
        return found

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
