import { Schema, type InferSchemaType, type Connection, type Model } from 'mongoose'

export const userSchema = new Schema({
  /** As the user typed it (NFKC, trimmed): shown back. */
  username: { type: String, required: true },
  /** Case-insensitive identity: NFKC with full Unicode case folding. Unique. */
  username_key: { type: String, required: true },
  /**
   * What the name looks like (Unicode TS #39 skeleton, case-folded). Unique. Accounts stored before
   * it existed get it at start (see the accounts plugin); sparse until then.
   */
  username_skeleton: { type: String },
  email: { type: String, default: null },
  password_hash: { type: String, required: true },
  roles: { type: [String], default: () => ['user'] },
  created_at: { type: Date, required: true, default: () => new Date() },
  last_login_at: { type: Date, default: null },
  /** An account is locked while this lies in the future. */
  locked_until: { type: Date, default: null },
  lock_reason: { type: String, default: null },
  /**
   * Login attempts counted since the last success or automatic lock. An attempt is counted
   * when it starts, before the password is checked, so no more than LOCKOUT_THRESHOLD
   * passwords are ever checked between two locks, however many arrive at once.
   */
  failed_logins: { type: Number, default: 0 },
  /** Automatic locks since the last successful login or unlock: each one lasts twice as long. */
  auto_locks: { type: Number, default: 0 },
  /** No login attempt is counted (or checked) before then: set with every lock, cleared by an unlock. */
  logins_blocked_until: { type: Date, default: null },
  /** An administrator's note on why the account is locked (shown in the admin API only). */
  lock_note: { type: String, default: null }
}, { collection: 'users', versionKey: false, autoIndex: false, strict: 'throw' })

userSchema.index({ username_key: 1 }, { unique: true })
// role filter of the admin list, in its username order; its prefix serves "is there an admin?"
userSchema.index({ roles: 1, username_key: 1 })
userSchema.index({ username_skeleton: 1 }, { unique: true, sparse: true })
userSchema.index({ locked_until: 1 })

export type User = InferSchemaType<typeof userSchema>
export type UserModel = Model<User>

export function userModel (connection: Connection): UserModel {
  return connection.model<User>('User', userSchema)
}
