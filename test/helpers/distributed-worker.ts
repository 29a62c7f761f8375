/**
 * One rank of test/distributed.test.ts's process groups: `node distributed-worker.js <scenario>
 * <rank> <worldSize> <port> <timeoutMs>` joins the group at tcp://127.0.0.1:<port> and prints one
 * JSON line: what the collectives gave, or { error } with the message of the Error it caught.
 *   collectives: allReduce sum / avg / max, broadcast from rank 1, allGather, barrier, an async allReduce.
 *   kill-mid-collective: rank 0 enters an allReduce that rank 1 never joins; rank 1 prints READY and
 *     waits for the test to kill it.
 *   stall: rank 0 enters an allReduce that rank 1, alive, never calls (it leaves after twice the timeout).
 */
import { distributed, tensor, zeros, type Tensor } from '../../src/index.js';

const [scenario, rankArg, worldSizeArg, port, timeout] = process.argv.slice(2);
const rank = Number(rankArg);
const worldSize = Number(worldSizeArg);

function values(t: Tensor): number[] {
  return Array.from(t.data() as Float32Array);
}

function collectives(): object {
  const sum = tensor([rank + 1, 10 * rank]);
  distributed.allReduce(sum, distributed.ReduceOp.SUM);
  const avg = tensor([rank + 1, 10 * rank]);
  distributed.allReduce(avg, distributed.ReduceOp.AVG);
  const max = tensor([rank + 1, 5 - rank]);
  distributed.allReduce(max, distributed.ReduceOp.MAX);
  const fromRank1 = tensor([2 * rank + 1, rank + 0.5]);
  distributed.broadcast(fromRank1, 1);
  const gathered = Array.from({ length: worldSize }, () => zeros([2]));
  distributed.allGather(gathered, tensor([rank, rank + 0.25]));
  distributed.barrier();
  const asyncSum = tensor([rank]);
  const work = distributed.allReduce(asyncSum, distributed.ReduceOp.SUM, { asyncOp: true });
  work.wait();
  return {
    rank: distributed.getRank(),
    worldSize: distributed.getWorldSize(),
    sum: values(sum),
    avg: values(avg),
    max: values(max),
    broadcast: values(fromRank1),
    allGather: gathered.map(values),
    asyncSum: values(asyncSum),
    completed: work.isCompleted(),
  };
}

try {
  distributed.initProcessGroup({ initMethod: `tcp://127.0.0.1:${port}`, rank, worldSize, timeout: Number(timeout) });
  let result: object = {};
  if (scenario === 'collectives') result = collectives();
  else if (scenario === 'kill-mid-collective') {
    distributed.barrier();
    if (rank === 1) {
      process.stdout.write('READY\n');
      setInterval(() => {}, 1000);
    } else distributed.allReduce(tensor([1]));
  } else if (scenario === 'stall') {
    distributed.barrier();
    if (rank === 1) setTimeout(() => process.exit(0), 2 * Number(timeout));
    else distributed.allReduce(tensor([1]));
  } else throw new Error(`unknown scenario ${scenario}`);
  if (rank === 0 || scenario === 'collectives') {
    distributed.destroyProcessGroup();
    process.stdout.write(JSON.stringify(result) + '\n');
  }
} catch (error) {
  process.stdout.write(JSON.stringify({ error: (error as Error).message }) + '\n');
  process.exitCode = 1;
}
