/**
 * Every scenario, in the order a round measures them. A new scenario is one module in this
 * folder exporting a ScenarioFactory, plus one line here.
 */
import type { ScenarioFactory } from '../lib/scenario'
import reference from './reference'
import verify from './verify'
import verifyRevocations from './verify-revocations'
import usersMe from './users-me'
import peer from './peer'
import relying from './relying'
import login from './login'
import loginEnumeration from './login-enumeration'
import memoryStart from './memory-start'
import eventCost from './event-cost'
import history from './history'
import startWithData from './start-with-data'

export const SCENARIOS: ReadonlyArray<{ name: string, create: ScenarioFactory }> = [
  { name: 'reference', create: reference },
  { name: 'verify', create: verify },
  { name: 'verify-revocations', create: verifyRevocations },
  { name: 'users-me', create: usersMe },
  { name: 'peer', create: peer },
  { name: 'relying', create: relying },
  { name: 'login', create: login },
  { name: 'login-enumeration', create: loginEnumeration },
  { name: 'memory-start', create: memoryStart },
  { name: 'event-cost', create: eventCost },
  { name: 'history', create: history },
  { name: 'start-with-data', create: startWithData }
]
