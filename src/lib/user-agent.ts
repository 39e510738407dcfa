import Bowser from 'bowser'

/** Longest user agent kept on an event or a session: enough for any real browser's. */
export const MAX_USER_AGENT = 512

const PRODUCT = /^[A-Za-z][A-Za-z0-9._-]{0,31}/

/**
 * The coarse family of a user agent, for telling a new device from a known one: the browser
 * and the operating system without versions ("Firefox on Linux", "Safari on iOS"), so that a
 * browser update is not a new device. Clients that are not browsers are known by their product
 * token ("curl", "okhttp"); no user agent at all is "unknown".
 */
export function deviceFamily (userAgent: string | null | undefined): string {
  if (userAgent === null || userAgent === undefined || userAgent.trim() === '') return 'unknown'
  try {
    const parsed = Bowser.parse(userAgent)
    const browser = parsed.browser.name ?? ''
    const os = parsed.os.name ?? ''
    if (browser !== '') return os !== '' ? `${browser} on ${os}` : browser
  } catch {
    // a string the parser cannot take is not a browser's
  }
  const product = PRODUCT.exec(userAgent.trim())
  return product === null ? 'other' : product[0].toLowerCase()
}
