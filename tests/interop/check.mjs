// What the interop scripts share: numbered checks that stop the script at the first
// failure (each within 30 s), and a logger that keeps the client quiet.

let passed = 0;

/// Runs one check; on failure prints it and exits non-zero.
export async function check(name, body) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after 30 s: ${name}`)), 30_000);
  });
  try {
    await Promise.race([body(), timeout]);
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (error) {
    console.error(`FAIL ${name}`);
    console.error(error);
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
}

/// How many checks passed so far.
export const checks = () => passed;

/// A logger for the clients that prints nothing.
export const quiet = { log: () => {}, warn: () => {}, error: () => {}, logVerbose: () => {} };
