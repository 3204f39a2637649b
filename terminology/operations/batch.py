"""stub"""

def run(context, instance_id=None):
    raise NotImplementedError
