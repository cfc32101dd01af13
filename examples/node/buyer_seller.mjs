// The buyer-and-seller story against a running `vending serve`, from Node.js.
//   node buyer_seller.mjs [ENDPOINT]        (default tcp://127.0.0.1:5555)
// Works on an empty server and when run again: each run registers its own users
// (a random suffix) and its own product.
import { randomBytes } from "node:crypto";
import { VendingClient } from "./vending.mjs";

const endpoint = process.argv[2] ?? process.env.VENDING_ENDPOINT ?? "tcp://127.0.0.1:5555";
const PASSWORD = "correct horse battery";
const run = randomBytes(4).toString("hex");
const seller = new VendingClient(endpoint);
const buyer = new VendingClient(endpoint);

try {
  await seller.register(`sam-${run}`, PASSWORD, "seller");
  console.log(`seller ${seller.userUid} registered`);
  const cola = await seller.sell("cola", 35, 10);
  console.log(`selling ${cola.product_name} at ${cola.cost} cents, ${cola.amount} in stock`);

  await buyer.register(`alice-${run}`, PASSWORD);
  let balance = 0;
  for (const coin of [100, 50]) balance = await buyer.deposit(coin);
  console.log(`buyer ${buyer.userUid} deposited ${balance} cents`);
  const bought = await buyer.buy(cola.product_uid, 2);
  console.log(`bought ${bought.amount} x ${bought.product_name} for ${bought.spent} cents, ` +
    `change ${bought.change.join(" ")}`);
  console.log(`stock left: ${(await buyer.product(cola.product_uid)).amount}`);

  const restocked = await seller.restock(cola.product_uid, 5);
  console.log(`restocked: ${restocked.amount} in stock`);
  await buyer.logout();
  await seller.logout();
  console.log("both logged out");
} catch (err) {
  console.error(`error: ${err.message}`);
  process.exitCode = 1;
} finally {
  seller.close();
  buyer.close();
}
