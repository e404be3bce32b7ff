-- requeue(agent, ids): puts in-flight messages back in the queue at their place.
requeue_slots(A.agent, A.ids)
return cjson.encode({ fx = told() })
