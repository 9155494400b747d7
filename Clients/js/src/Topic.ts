/** Whether `channel` (a concrete topic) matches `filter` (`+` one level, `#` the rest; docs/topics.md). */
export function topicMatches(filter: string, channel: string): boolean {
  if (filter.startsWith("$share/")) {
    const rest = filter.indexOf("/", "$share/".length);
    if (rest < 0) return false;
    filter = filter.slice(rest + 1);
  }
  if (filter === channel) return true;
  const filterLevels = filter.split("/");
  const channelLevels = channel.split("/");
  // Filters starting with a wildcard never match topics starting with `$` (topics.md).
  if (channel.startsWith("$") && (filterLevels[0] === "+" || filterLevels[0] === "#")) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    if (level === "#") return true;
    if (i >= channelLevels.length) return false;
    if (level !== "+" && level !== channelLevels[i]) return false;
  }
  return filterLevels.length === channelLevels.length;
}

/** Whether `channel` names a filter rather than one concrete channel. */
export function isFilter(channel: string): boolean {
  return channel.startsWith("$share/") || channel.split("/").some((level) => level === "+" || level === "#");
}
