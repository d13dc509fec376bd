// Prints the node_modules folders the given packages need at run time (their dependencies, recursively).
const path = require('path'), fs = require('fs');
const seen = new Set();
function visit(name, from) {
  let dir;
  try { dir = path.dirname(require.resolve(name + '/package.json', { paths: [from] })); } catch { return; }
  if (seen.has(dir)) return; seen.add(dir);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const d of Object.keys(pkg.dependencies || {})) visit(d, dir);
}
for (const n of process.argv.slice(2)) visit(n, process.cwd());
// relative to the folder that really holds node_modules (a worktree may link it from elsewhere)
const root = path.dirname(fs.realpathSync(path.join(process.cwd(), 'node_modules')));
console.log([...seen].map((d) => path.relative(root, d)).join('\n'));
