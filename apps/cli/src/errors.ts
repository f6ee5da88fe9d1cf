/** A mistake the user can fix: printed as one line, exit status 2 for usage errors and 1 otherwise. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Node's parseArgs errors as one line of ours (its own text runs on with advice on '--' quoting). */
export function argsError(e: unknown, command?: string): CliError {
  const err = e as { code?: string; message?: string };
  const msg = String(err.message ?? e);
  const name = /'(-[^' ]+)/.exec(msg)?.[1];
  const help = command ? `(see vdesk ${command} --help)` : '(see vdesk help COMMAND)';
  const what = command ? `${command}: ` : '';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && name)
    return new CliError(`${what}unknown option ${name} ${help}`, 2);
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name)
    return new CliError(`${what}${name} needs a value ${help}`, 2);
  return new CliError(`${what}${msg.split(/[.\n]/)[0]} ${help}`, 2);
}
