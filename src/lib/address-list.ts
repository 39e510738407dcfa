import { BlockList, isIP } from 'node:net'

/** One entry of an address list: a single address is a subnet of its full length. */
export interface AddressRule {
  address: string
  prefix: number
  family: 'ipv4' | 'ipv6'
}

/** 127.0.0.0/8 and ::1; IPv4-mapped IPv6 forms (::ffff:127.0.0.1) match the IPv4 rule. */
export const LOOPBACK: readonly AddressRule[] = [
  { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
  { address: '::1', prefix: 128, family: 'ipv6' }
]

/**
 * Parses a comma list of addresses and CIDRs (`10.0.0.0/8, 192.0.2.7, fd00::/8`).
 * Returns null when an entry is neither, or when the list is empty.
 */
export function parseAddressRules (value: string): AddressRule[] | null {
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean)
  if (entries.length === 0) return null
  const rules: AddressRule[] = []
  for (const entry of entries) {
    const slash = entry.indexOf('/')
    const address = slash === -1 ? entry : entry.slice(0, slash)
    const version = isIP(address)
    if (version === 0) return null
    const bits = version === 4 ? 32 : 128
    const prefixText = slash === -1 ? String(bits) : entry.slice(slash + 1)
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return null
    rules.push({ address, prefix: Number(prefixText), family: version === 4 ? 'ipv4' : 'ipv6' })
  }
  return rules
}

/** Whether an address (as Node reports a socket's, IPv4-mapped IPv6 included) falls in one of the rules. */
export function addressMatcher (rules: readonly AddressRule[]): (ip: string) => boolean {
  const list = new BlockList()
  for (const rule of rules) list.addSubnet(rule.address, rule.prefix, rule.family)
  return (ip) => {
    const version = isIP(ip)
    return version !== 0 && list.check(ip, version === 4 ? 'ipv4' : 'ipv6')
  }
}
