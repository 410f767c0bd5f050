/** The API's timestamp format for users and API keys: UTC `YYYY-MM-DDTHH:MM:SSZ` (CONTRACT §2). */
export function toApiTimestamp(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
