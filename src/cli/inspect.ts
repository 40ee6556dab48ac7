/** `holdfast inspect <url>`: placeholder until the inspect issue lands. */
export async function runInspect(argv: string[]): Promise<number> {
  process.stderr.write(`holdfast inspect: not implemented yet (${argv.join(' ')})\n`);
  return 2;
}
