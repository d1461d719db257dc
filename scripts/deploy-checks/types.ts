/** One finding of the deploy-file validator. */
export interface DeployCheck {
  /** File the check is about, relative to the repository root. */
  readonly file: string;
  readonly name: string;
  /** `warn` = not a defect of the file itself (e.g. a path another change will add). */
  readonly status: 'pass' | 'fail' | 'warn';
  readonly detail?: string;
}

export function check(file: string, name: string, ok: boolean, detail?: string): DeployCheck {
  return detail === undefined ? { file, name, status: ok ? 'pass' : 'fail' } : { file, name, status: ok ? 'pass' : 'fail', detail };
}
